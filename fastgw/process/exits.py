"""The process exit codes of `fastgw serve`, shared by the supervisor and its workers."""

EXIT_OK = 0
#: the config is invalid at start
EXIT_CONFIG = 2
#: a listening address cannot be taken, or a worker cannot boot: a worker exiting with it is not
#: respawned (the same boot would fail again), and the supervisor halts if its first workers do
EXIT_BOOT = 3
