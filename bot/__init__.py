from core.noise import quiet_asyncssh_dsa

quiet_asyncssh_dsa()
