namespace Smapp.Tests.Support;

/// <summary>Paths inside the repository and the build output.</summary>
public static class Repo
{
    private static readonly Lazy<string> RootPath = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Smapp.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException($"no Smapp.sln above {AppContext.BaseDirectory}");
    });

    public static string Root => RootPath.Value;

    public static string Testbed => Path.Combine(Root, "kernel-pm", "testbed.sh");

    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name + ".hex");

    /// <summary>The smapp executable built next to the tests.</summary>
    public static string SmappDll => Path.Combine(AppContext.BaseDirectory, "smapp.dll");

    /// <summary>The benchmark program as the solution built it, in the tests' configuration (Debug or Release).</summary>
    public static string BenchmarksDll
    {
        get
        {
            var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
            var dll = Path.Combine(Root, "Smapp.Benchmarks", "bin", configuration, "net10.0", "Smapp.Benchmarks.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException($"the benchmarks are not built (dotnet build Smapp.sln): no {dll}");
        }
    }
}
