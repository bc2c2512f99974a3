"""The control channel: a controller that runs on its own (``tui-orch controller``) serves
the commands of consoles and CLI verbs on a UNIX socket in the state folder, readable by its
owner only (no TCP port). ``place`` says where a running controller is, ``server`` serves
it, ``client`` sends it a command, ``routed`` sends what a command prints to the client that
asked for it."""
