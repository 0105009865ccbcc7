"""Your own models, as families of the study: params.yaml names a class here by import path
(`class_path: models.<module>.<Class>`); docs/own-model.md says how. Every train stage depends on this folder."""
