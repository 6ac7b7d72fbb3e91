"""Serving `models:/<name>@champion` to every front door (CLI, Streamlit, the API in `mlstack.api`).

- `loader`: resolve the alias, load and cache each version, keep serving (flagged stale) while
  the registry is unreachable;
- `inputs`: rows checked and cast against the dataset spec, every problem named;
- `scoring`: a loaded version answers checked rows as one typed `Prediction`;
- `batch`: uploaded tables scored in chunks, invalid rows listed with their reasons;
- `form`: the prediction form derived from the dataset spec;
- `service`: the one predict-and-log service every front door calls.
"""
