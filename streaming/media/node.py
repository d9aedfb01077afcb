"""The rooms one media node hosts (streaming.media.placement says which rooms are whose)."""

from aiortc import RTCIceServer

from core.settings import Settings
from streaming.media import passthrough
from streaming.media.room import MediaRoom
from streaming.media.signalling import RoomHost


def ice_servers(settings: Settings) -> list[RTCIceServer]:
    """The configured STUN/TURN servers as aiortc takes them (TURN credentials minted for
    browsers are theirs; the node itself is reachable directly)."""
    return [
        RTCIceServer(
            urls=server.urls, username=server.username or None, credential=server.credential or None
        )
        for server in settings.ice_servers
    ]


class MediaNode:
    """Rooms by key, each made when its first participant arrives and closed when its event
    ends. Making one installs the pass-through receivers in this process (see passthrough)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rooms: dict[str, RoomHost] = {}

    def host(self, key: str) -> RoomHost:
        host = self.rooms.get(key)
        if host is None:
            passthrough.install()
            room = MediaRoom(
                tiles=self.settings.room_tiles,
                lanes=self.settings.room_audio_lanes,
                video_codec=f"video/{self.settings.room_video_codec}",
            )
            room.start()
            host = self.rooms[key] = RoomHost(
                room, ice_servers(self.settings), self.settings.media_announced_address
            )
        return host

    async def close_room(self, key: str) -> None:
        host = self.rooms.pop(key, None)
        if host is not None:
            await host.close()

    async def close(self) -> None:
        for key in list(self.rooms):
            await self.close_room(key)
