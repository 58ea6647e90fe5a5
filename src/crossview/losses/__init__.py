"""Losses: ranking (weighted soft-margin), InfoNCE, triplet, GAN and auxiliary losses.

Each family lives in its own module; import from there (``crossview.losses.ranking`` ...).
"""
