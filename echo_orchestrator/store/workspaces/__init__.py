"""The workspaces folder (the files executions produce) and the one resolver that keeps every
path a caller names inside its workspace."""
