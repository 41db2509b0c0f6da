using System.Text.Json;

namespace Smapp.Tests.Support;

/// <summary>A golden fixture captured from the running kernel by Fixtures/capture.sh.</summary>
public sealed record Fixture(string Name, string Description, IReadOnlyList<byte[]> Datagrams)
{
    public byte[] Single => Datagrams.Count == 1 ? Datagrams[0] : throw new InvalidOperationException($"{Name} has {Datagrams.Count} datagrams");

    /// <summary>The JSON object the monitor printed when the fixture was captured (events only).</summary>
    public JsonElement Json
    {
        get
        {
            var i = Description.IndexOf('{');
            return JsonDocument.Parse(Description[i..]).RootElement;
        }
    }

    public static Fixture Load(string name)
    {
        var lines = File.ReadAllLines(Repo.Fixture(name));
        var description = string.Join(" ", lines.Where(l => l.StartsWith('#')).Select(l => l.TrimStart('#', ' ')));
        var data = lines.Where(l => l.Length > 0 && !l.StartsWith('#')).Select(Convert.FromHexString).ToList();
        return new Fixture(name, description, data);
    }

    public static IEnumerable<string> Names(string prefix) =>
        Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures"), prefix + "*.hex")
            .Select(f => Path.GetFileNameWithoutExtension(f)!)
            .OrderBy(n => n);
}
