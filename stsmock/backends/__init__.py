"""Backend processes that stsmock manages itself (the embedded SeaweedFS behind the S3 gateway)."""

from .seaweedfs import SeaweedFS, find_weed

__all__ = ["SeaweedFS", "find_weed"]
