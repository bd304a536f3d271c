"""Services: what the echoai endpoints do, composed from the store, engine, registry and hub."""
