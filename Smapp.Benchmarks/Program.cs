using BenchmarkDotNet.Running;
using Smapp.Benchmarks;

// dotnet run -c Release --project Smapp.Benchmarks -- memory [N]      managed memory per connection, per policy
// sudo dotnet run -c Release --project Smapp.Benchmarks -- scale [N] [TICKS]   real kernel: the sampler's tick over 2N subflows
// dotnet run -c Release --project Smapp.Benchmarks -- hotpath [N] [AKKA_LOGLEVEL]   event -> policy -> command by message on the loop, no kernel
// dotnet run -c Release --project Smapp.Benchmarks -- codec           BenchmarkDotNet: decode an event, encode a command
// sudo dotnet run -c Release --project Smapp.Benchmarks -- load [N] [RATE] [HOLD_MS]   real kernel: a flood of short connections
var what = args.Length > 0 ? args[0] : "memory";
switch (what)
{
    case "memory":
        MemoryBenchmark.Run(args.Length > 1 ? int.Parse(args[1]) : 10_000, ["passive", "fullmesh", "ndiffports"]);
        return 0;
    case "load":
        return LoadBenchmark.Run(args.Length > 1 ? int.Parse(args[1]) : 2000, args.Length > 2 ? int.Parse(args[2]) : 1000, args.Length > 3 ? int.Parse(args[3]) : 200);
    case "scale":
        return ScaleBenchmark.Run(args.Length > 1 ? int.Parse(args[1]) : 5000, args.Length > 2 ? int.Parse(args[2]) : 50);
    case "hotpath":
        HotPathBenchmark.Run(args.Length > 1 ? int.Parse(args[1]) : 2000, args.Length > 2 ? args[2] : "INFO");
        return 0;
    case "codec":
        BenchmarkSwitcher.FromTypes([typeof(CodecBenchmarks), typeof(ReactionPathBenchmarks)]).Run(args[1..]);
        return 0;
    default:
        Console.Error.WriteLine("usage: Smapp.Benchmarks memory [N] | load [N] [RATE] [HOLD_MS] | codec [BenchmarkDotNet options]");
        return 2;
}
