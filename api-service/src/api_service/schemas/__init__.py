"""Response bodies as pydantic models: the OpenAPI schema the web app's client is generated from."""
