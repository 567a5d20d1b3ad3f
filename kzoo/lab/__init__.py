"""The training-tips lab: each lesson of the lecture notes as a seeded experiment with a figure.

Each lesson module tests one claim (`CLAIM`, from `PAPER`) and exposes `run(out_dir, *, seed=0,
smoke=False, **knobs) -> dict`: it trains or probes small networks on offline data, writes
`<lesson>.png` and `<lesson>.json` into `out_dir` and returns the numbers behind the figure, with
`claim_holds` and a one-line `conclusion` measured from them. `headline(result)` names the numbers the
claim rests on. `kzoo.lab._seeds.run_over_seeds` runs a lesson over its `SEEDS` (the claim as "k of
n seeds", the numbers as mean ± spread) and `kzoo.lab.report` gathers every lesson into one page.
"""
