export DIB_STYLE_GREETING=${DIB_STYLE_GREETING:-hello-from-environment-d}
