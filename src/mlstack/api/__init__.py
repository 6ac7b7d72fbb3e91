"""The prediction API (`mlstack serve`): one more front door onto `serving.service`.

- `schemas`: request and response models generated from the dataset spec (what /docs shows);
- `bodies`: request bodies read within the size limits, MLflow's scoring formats as rows;
- `metrics`: Prometheus metrics of requests, predictions, input errors and model loads;
- `auth`: the bearer token, and the refusal to start without one in production mode;
- `routes`: /v1/predict, /invocations, /v1/model, /health, /ready, /metrics;
- `app`: the application factory uvicorn runs.
"""
