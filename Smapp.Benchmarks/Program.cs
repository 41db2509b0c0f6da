using BenchmarkDotNet.Running;
using Smapp.Benchmarks;

// dotnet run -c Release --project Smapp.Benchmarks -- memory [N]      managed memory per connection, per policy
// dotnet run -c Release --project Smapp.Benchmarks -- codec           BenchmarkDotNet: decode an event, encode a command
var what = args.Length > 0 ? args[0] : "memory";
switch (what)
{
    case "memory":
        MemoryBenchmark.Run(args.Length > 1 ? int.Parse(args[1]) : 10_000, ["passive", "fullmesh", "ndiffports"]);
        return 0;
    case "codec":
        BenchmarkSwitcher.FromTypes([typeof(CodecBenchmarks)]).Run(args[1..]);
        return 0;
    default:
        Console.Error.WriteLine("usage: Smapp.Benchmarks memory [N] | codec [BenchmarkDotNet options]");
        return 2;
}
