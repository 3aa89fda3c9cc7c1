"""Training: batched augmentations, optimisers and schedules, and the resumable pretraining loop."""
