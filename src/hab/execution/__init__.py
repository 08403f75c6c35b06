"""Running engine processes: the protocol, one process and its verdict,
a plan's units in order, verification, memory caps, RSS sampling and the
facts of the host they ran on."""
