"""`mainport derive`: keeps the derived records (timeseries/derived.py) in step with raw data."""
