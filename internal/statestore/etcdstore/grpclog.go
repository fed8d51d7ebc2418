package etcdstore

import (
	"fmt"
	"log/slog"
	"os"

	"google.golang.org/grpc/grpclog"
)

// SetGRPCLog sends gRPC's own log lines (its transport's warnings and
// errors) to log instead of stderr, where they would break lbd's JSON log.
// gRPC's logger is the process's: call this once, from main, before Dial.
func SetGRPCLog(log *slog.Logger) { grpclog.SetLoggerV2(grpcLogger{log.With("source", "grpc")}) }

// grpcLogger adapts slog to grpclog.LoggerV2; gRPC's info lines are
// dropped.
type grpcLogger struct{ log *slog.Logger }

func (grpcLogger) Info(...any)                      {}
func (grpcLogger) Infoln(...any)                    {}
func (grpcLogger) Infof(string, ...any)             {}
func (g grpcLogger) Warning(args ...any)            { g.log.Warn(fmt.Sprint(args...)) }
func (g grpcLogger) Warningln(args ...any)          { g.log.Warn(fmt.Sprint(args...)) }
func (g grpcLogger) Warningf(f string, args ...any) { g.log.Warn(fmt.Sprintf(f, args...)) }
func (g grpcLogger) Error(args ...any)              { g.log.Error(fmt.Sprint(args...)) }
func (g grpcLogger) Errorln(args ...any)            { g.log.Error(fmt.Sprint(args...)) }
func (g grpcLogger) Errorf(f string, args ...any)   { g.log.Error(fmt.Sprintf(f, args...)) }
func (g grpcLogger) Fatal(args ...any)              { g.log.Error(fmt.Sprint(args...)); os.Exit(1) }
func (g grpcLogger) Fatalln(args ...any)            { g.log.Error(fmt.Sprint(args...)); os.Exit(1) }
func (g grpcLogger) Fatalf(f string, args ...any)   { g.log.Error(fmt.Sprintf(f, args...)); os.Exit(1) }
func (grpcLogger) V(int) bool                       { return false }
