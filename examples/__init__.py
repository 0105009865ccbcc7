"""Worked examples of a user's model as a family (docs/own-model.md): `examples.resnet.ResNet`, swept by
examples/resnet.yaml. Every train stage depends on this folder, as on models/."""
