"""WalletConnect v2 (Sign) dapp client: rigshare's side of the renter's own wallet.

``crypto`` and ``relay_auth`` are the primitives, ``uri`` the pairing link, ``relay`` the one
websocket to the relay, ``client`` the protocol engine, ``store`` the sessions at rest and
``wallet`` the ``core.ports.WalletPort`` adapter. ``local_relay`` and ``peer`` are a relay and a
wallet of our own for tests, benchmarks and the demo.
"""
