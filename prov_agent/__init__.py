"""PROV-AGENT provenance: model, recorder, append-only hash-chained store, export, queries."""
