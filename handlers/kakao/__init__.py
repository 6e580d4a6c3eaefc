"""KakaoTalk: a Kakao i Open Builder skill server on the same services, and the Event API
sender for announcements."""
