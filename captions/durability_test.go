package captions

const helperEnv = "RELAY_CAPTIONS_HELPER"

func helperMain() {}
