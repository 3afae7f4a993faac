"""Speed and quality benchmarks of lifecircle's pipeline against peers.

Run ``python -m benchmarks.run --help``; see ``benchmarks/README.md``.
"""
