"""``info.context``: built once per request (and once per WebSocket connection) by a
context getter, with the viewer read from the bearer token and fresh DataLoaders."""

from __future__ import annotations

from strawberry.fastapi import BaseContext

from graphql_api.loaders import Loaders
from graphql_api.state import ApiState


class Context(BaseContext):
    def __init__(self, state: ApiState, viewer: str | None, request_id: str, ip: str | None = None) -> None:
        super().__init__()
        self.state = state
        self.viewer = viewer
        self.request_id = request_id
        self.ip = ip  # the client's address: the rate key of an anonymous viewer (``ask``)
        self.loaders = Loaders(state.pool, viewer, state.settings.mirror_program_id, state.lookups)

    def set_viewer(self, viewer: str | None) -> None:
        self.viewer = viewer
        self.refresh()

    def release(self) -> None:
        """The request is answered: the rows its loaders hold go now. graphql-core's executor, which holds this
        context, sits in a reference cycle of its own (its async helpers hold its methods), so without this
        every row a request read would wait for the cyclic collector, whose passes then cost a fifth of the CPU."""
        self.refresh()

    def refresh(self) -> None:
        """New loaders: a long-lived subscription must not serve what a past request cached."""
        self.loaders = Loaders(self.state.pool, self.viewer, self.state.settings.mirror_program_id, self.state.lookups)
