"""The lesion detector (v2): ImageNet-pretrained EfficientNet-Lite + FPN -> lesion-centre heatmaps at stride 2.

network: the model; data: the training pack and crop sampler; train: one command, resumable;
export: ONNX for the service (pipeline/detector.py); quantize: that file in int8, which the service runs.
"""
