"""The feature service: turns each customer's inbound events into the versioned feature
vector the scorer reads. ``services.features.core`` holds the pure logic shared by the
streaming worker and offline replay."""
