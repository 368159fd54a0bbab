"""Protocol code, free of the domain: HTTP/1.1 server and client, WebSocket frames,
Range headers, the etcd v3 gateway client, RTSP client and reader, the H.264 SPS parser.

Nothing here imports a camera_service package above it."""
