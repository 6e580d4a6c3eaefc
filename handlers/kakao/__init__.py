"""KakaoTalk: a Kakao i Open Builder skill server on the same services, and the Event API
sender for announcements."""

CHANNEL = "kakao"  # citizens on KakaoTalk: one per botUserKey
