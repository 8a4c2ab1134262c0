"""One module per revision. Each declares `phase`: "expand" (additive) or "contract"."""
