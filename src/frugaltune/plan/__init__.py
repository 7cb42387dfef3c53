"""The planner: compare, impact, recommend/plan, budget, buy-vs-rent. Python API in `frugaltune.plan.api`."""
