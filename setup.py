"""The optional C speed-up of the Hugging Face console parser (everything else is in pyproject.toml).

``optional=True``: without a C compiler the build goes on without it and logcheck uses its
pure-Python path, which gives the same runs (tests/test_speedups.py checks both ways).
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("logcheck._speedups", ["analyzer/_speedups.c"], optional=True,
                             extra_compile_args=["-O2"])])
