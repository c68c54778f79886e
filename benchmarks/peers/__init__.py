"""The peers we compare with (TFP's `tfb.Glow`, a PyTorch Glow) and the helpers they share."""
