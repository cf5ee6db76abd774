"""Parts of the daemon plugged into the manager (see :mod:`.base`)."""
