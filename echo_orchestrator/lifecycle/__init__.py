"""The rules of what may happen to an execution and to a workflow, in one place each.

Pure rules over the models: no I/O. The store, the engine and the services all ask here;
none of them decides a status on its own.
"""
