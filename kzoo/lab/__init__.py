"""The training-tips lab: each lesson of the lecture notes as a seeded experiment with a figure.

Each lesson module exposes `run(out_dir, *, seed=0, smoke=False, **knobs) -> dict`: it trains or probes
small networks on offline data, writes `<lesson>.png` and `<lesson>.json` into `out_dir` and returns the
numbers behind the figure, including a one-line `conclusion` measured from them.
"""
