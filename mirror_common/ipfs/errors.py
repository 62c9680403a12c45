"""The errors a content store raises: every failure of a read is one of these, with a reason a person can act on."""

from __future__ import annotations


class ContentError(Exception):
    """Content could not be stored or read, or did not verify."""


class BadCid(ContentError):
    """The CID string is not one we can verify: malformed, an unsupported version, codec, multibase or
    hash function (only sha2-256), an identity hash, or it names something that is not a UnixFS file."""


class NotFound(ContentError):
    """The content (or one of its blocks) is not in the store, or the node did not find it in time."""


class TooLarge(ContentError):
    """The content is larger than the caller's limit; refused before it was read in full."""


class Corrupt(ContentError):
    """A block does not hash to its CID, does not decode, or its DAG contradicts itself (sizes, depth)."""


class TooManyBlocks(Corrupt):
    """The DAG has more blocks than a file of its size needs (leaves far smaller than any importer cuts,
    the same block linked over and over): refused before they are fetched, so that one read's work is
    bounded by its size. Corrupt content to every caller: permanent, not worth retrying."""


class Unavailable(ContentError):
    """The store itself could not be reached (a node refusing or dropping the connection, or refusing
    our token): nothing is known about the content. Worth trying again later, unlike the others."""
