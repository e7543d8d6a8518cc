//! Text to feature vectors (placeholder while the encoder is written).
