package main

import (
	"errors"
	"flag"
)

type flagT = flag.Flag

func errorsAs(err error, target any) bool { return errors.As(err, target) }
