"""The image-level grade: the Hayashi level of a whole face from a pretrained EfficientNet-Lite (CLINICAL.md,
"The grade from the whole image"). network: the model; data: face crops; train: one command, resumable."""
