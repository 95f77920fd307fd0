package web_test

import "os"

func openAppend(p string) (*os.File, error) { return os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0) }
