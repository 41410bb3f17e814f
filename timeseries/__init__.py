"""Everything that talks to InfluxDB: the v1 client and write policy, the schema, and the formats
two processes share (markers, derived records, the uint64 wrap): one owner module each."""
