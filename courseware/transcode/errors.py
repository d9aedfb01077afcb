"""Errors of the transcode pipeline.

PlatformError (core.errors)
└── MediaError   the source cannot be probed or transcoded; `reason` is shown to the publisher

Every failure has a stable `code` (for translation, retries and tests); REASONS holds the
publisher-facing sentence for each, Chinese first.
"""

from core.errors import PlatformError

REASONS: dict[str, str] = {
    "not_media": "无法识别的媒体文件：文件不是音视频，或已损坏"
    "（not a recognisable audio or video file, or it is damaged）",
    "image": "这是一张图片，不是视频或音频（this is a still image, not video or audio）",
    "no_streams": "文件里没有音频或视频轨道（the file has no audio or video track）",
    "zero_duration": "媒体时长为零：文件里没有可播放的内容（the file has zero duration）",
    "undecodable": "无法解码：音视频数据已损坏，或使用了不支持的编码"
    "（the audio or video data cannot be decoded: damaged, or an unsupported codec）",
    "truncated": "文件不完整：上传可能中断了，请重新上传（the file is incomplete: re-upload it）",
    "transcode_failed": "转码失败：无法处理这个文件（transcoding failed for this file）",
    "timeout": "转码超时，已停止（transcoding took too long and was stopped）",
    "disk_full": "服务器磁盘空间不足，转码中止（the server ran out of disk space）",
    "output_incomplete": "转码输出不完整（the transcode produced incomplete output）",
}


class MediaError(PlatformError):
    """A source that is not usable media, or a failed transcode, with a publisher-facing reason.

    `detail` holds technical context for operators, such as ffmpeg's last stderr lines.
    """

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.reason = REASONS[code]
        self.detail = detail
        super().__init__(self.reason)
