"""The loader's AWS Lambda deployment package, built from its lock file (`nox -s package`)."""
