"""Test harness for real container engines: private network namespaces, a private dockerd and
podman, a local registry seeded with offline-built images, and fake GPU device nodes.

Test scaffolding only; product code never imports it. Fixtures: ``tests.engine.fixtures``.
"""
