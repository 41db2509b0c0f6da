using Akka.Configuration;
using Smapp.Actors.Configuration;
using Smapp.Host.Configuration;

namespace Smapp.Tests.Configuration;

/// <summary>
/// Bad configuration as an operator writes it: broken brackets (a parse error naming the line), unknown keys (with the
/// nearest known name), wrong types (a string where a list is expected), values out of range, zero and negative
/// durations. Each is a <see cref="ConfigError"/> naming the key and the reason; and interfaces the namespace lacks
/// are warnings.
/// </summary>
public class ConfigValidationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("smapp-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File(string text, string name = "smapp.conf")
    {
        var path = Path.Combine(_dir, name);
        System.IO.File.WriteAllText(path, text);
        return path;
    }

    private ConfigError LoadFails(string text) => Assert.Throws<ConfigError>(() => ConfigLoader.Load(File(text), null, []));

    private static ConfigError SettingsFail(string hocon) =>
        Assert.Throws<ConfigError>(() => SmappSettings.FromConfig(ConfigurationFactory.ParseString(hocon)));

    [Fact]
    public void An_unclosed_brace_is_a_parse_error_naming_the_line_it_opened_on()
    {
        var e = LoadFails("smapp {\n  policy = fullmesh\n  gateway {\n    command-timeout = 5s\n");
        Assert.Contains("not valid HOCON", e.Reason);
        Assert.Contains("line 3: '{' is never closed", e.Reason);
    }

    [Fact]
    public void Extra_closing_braces_are_a_parse_error_naming_their_line()
    {
        var e = LoadFails("smapp {\n  policy = fullmesh\n}\n}}}\n");
        Assert.Contains("line 4: '}' closes nothing", e.Reason);
    }

    [Fact]
    public void An_unclosed_list_is_a_parse_error_and_does_not_hang_the_parser()
    {
        // Akka's parser loops forever on this one; the check runs first.
        var e = LoadFails("smapp {\n  interfaces = [ eth0, wlan0\n  policy = fullmesh\n}\n");
        Assert.Contains("line 4: '}' where the '[' opened on line 2 needs a ']'", e.Reason);

        var end = LoadFails("smapp {\n  policy = fullmesh\n}\nsmapp.interfaces = [ eth0\n");
        Assert.Contains("line 4: '[' is never closed", end.Reason);
    }

    [Fact]
    public void Brackets_inside_strings_comments_and_substitutions_do_not_count()
    {
        const string text = """
            # a comment with { and [
            smapp {
              // another } comment
              policy = "fullmesh" # trailing ]
              rules = [ { name = "servers {are} [passive]", side = server, policy = passive } ]
              interfaces = []
              decision-log = debug
            }
            """;
        Assert.Null(HoconSyntax.Check(text));
        Assert.Null(HoconSyntax.Check("a = { b = ${x.y} }\nc = [ ${?z} ]\n"));
        var (_, settings) = ConfigLoader.Load(File(text), null, []);
        Assert.Equal("servers {are} [passive]", settings.Selector.Rules[0].Name);
    }

    [Fact]
    public void An_unclosed_quoted_string_is_a_parse_error_naming_its_line()
    {
        Assert.Equal("line 2: a quoted string is never closed on its line", HoconSyntax.Check("smapp {\n  policy = \"fullmesh\n}\n"));
    }

    [Fact]
    public void A_broken_set_value_is_a_parse_error_naming_the_key()
    {
        var e = Assert.Throws<ConfigError>(() => ConfigLoader.Overlay(ConfigurationFactory.ParseString("smapp {}"), null, ["smapp.interfaces=[eth0"]));
        Assert.Equal("smapp.interfaces", e.Key);
        Assert.Contains("'[' is never closed", e.Reason);
    }

    [Theory]
    [InlineData("smapp { polcy = fullmesh }", "smapp.polcy", "did you mean 'policy'?")]
    [InlineData("smapp { interface = [eth0] }", "smapp.interface", "did you mean 'interfaces'?")]
    [InlineData("smapp { gateway { comand-timeout = 1s } }", "smapp.gateway.comand-timeout", "did you mean 'command-timeout'?")]
    [InlineData("smapp { sampler { intervall = 1s } }", "smapp.sampler.intervall", "did you mean 'interval'?")]
    [InlineData("smapp { policies.fullmesh { max-subflow = 3 } }", "smapp.policies.fullmesh.max-subflow", "did you mean 'max-subflows'?")]
    [InlineData("smapp { policies.backup { rto-treshold = 2s } }", "smapp.policies.backup.rto-treshold", "did you mean 'rto-threshold'?")]
    [InlineData("smapp { rules = [ { sde = server, policy = passive } ] }", "smapp.rules[0].sde", "did you mean 'side'?")]
    public void An_unknown_key_names_the_nearest_known_one(string hocon, string key, string hint)
    {
        var e = SettingsFail(hocon);
        Assert.Equal(key, e.Key);
        Assert.Contains(hint, e.Reason);
        Assert.Contains("known here:", e.Reason);
    }

    [Fact]
    public void An_unknown_key_far_from_every_known_one_gets_no_guess()
    {
        var e = SettingsFail("smapp { zzzzzzzz = 1 }");
        Assert.Equal("smapp.zzzzzzzz", e.Key);
        Assert.DoesNotContain("did you mean", e.Reason);
    }

    [Fact]
    public void An_unknown_top_level_section_names_the_nearest_known_one()
    {
        var e = LoadFails("smap {\n  policy = fullmesh\n}\n");
        Assert.Equal("smap", e.Key);
        Assert.Contains("did you mean 'smapp'?", e.Reason);
    }

    [Theory]
    [InlineData("smapp { interfaces = eth0 }", "smapp.interfaces")]
    [InlineData("smapp { policies.fullmesh.interfaces = wlan0 }", "smapp.policies.fullmesh.interfaces")]
    [InlineData("smapp { policies.backup.backup-interfaces = cell }", "smapp.policies.backup.backup-interfaces")]
    [InlineData("smapp { policies.streaming.interfaces = wifi }", "smapp.policies.streaming.interfaces")]
    public void A_string_where_a_list_is_expected_is_rejected_naming_the_key(string hocon, string key)
    {
        var e = SettingsFail(hocon);
        Assert.Equal(key, e.Key);
        Assert.Contains("is not a list", e.Reason);
    }

    [Fact]
    public void A_list_item_that_is_not_a_name_is_rejected()
    {
        var e = SettingsFail("smapp { interfaces = [ eth0, { name = wlan0 } ] }");
        Assert.Equal("smapp.interfaces", e.Key);
        Assert.Contains("every item must be a name", e.Reason);
    }

    [Theory]
    [InlineData("smapp.gateway.command-timeout = 0s", "smapp.gateway.command-timeout", "is zero")]
    [InlineData("smapp.gateway.command-timeout = -1s", "smapp.gateway.command-timeout", "is negative")]
    [InlineData("smapp.gateway.command-timeout = 10m", "smapp.gateway.command-timeout", "at most 5m")]
    [InlineData("smapp.gateway.command-timeout = 5", "smapp.gateway.command-timeout", "a duration with a unit")]
    [InlineData("smapp.sampler.interval = -100ms", "smapp.sampler.interval", "is negative")]
    [InlineData("smapp.policies.fullmesh.backoff-max = 0ms", "smapp.policies.fullmesh.backoff-max", "is zero")]
    [InlineData("smapp.policies.backup.rto-threshold = -2s", "smapp.policies.backup.rto-threshold", "is negative")]
    [InlineData("smapp.policies.streaming.period = soon", "smapp.policies.streaming.period", "a duration with a unit")]
    public void Zero_negative_and_unitless_durations_are_rejected_with_a_reason(string hocon, string key, string reason)
    {
        var e = SettingsFail($"smapp {{}}\n{hocon}");
        Assert.Equal(key, e.Key);
        Assert.Contains(reason, e.Reason);
    }

    [Theory]
    [InlineData("smapp.policies.ndiffports.subflows = 100000", "smapp.policies.ndiffports.subflows", "between 1 and 64")]
    [InlineData("smapp.policies.ndiffports.subflows = 0", "smapp.policies.ndiffports.subflows", "between 1 and 64")]
    [InlineData("smapp.policies.ecmp-refresh.subflows = 1", "smapp.policies.ecmp-refresh.subflows", "between 2 and 64")]
    [InlineData("smapp.policies.fullmesh.max-subflows = 65", "smapp.policies.fullmesh.max-subflows", "between 1 and 64")]
    [InlineData("smapp.policies.server-guard.max-subflows = -1", "smapp.policies.server-guard.max-subflows", "between 1 and 64")]
    [InlineData("smapp.policies.fullmesh.max-attempts = -3", "smapp.policies.fullmesh.max-attempts", "between 0 and 1000000")]
    [InlineData("smapp.policies.fullmesh.backoff-multiplier = 0.5", "smapp.policies.fullmesh.backoff-multiplier", "between 1 and 100")]
    [InlineData("smapp.policies.streaming.check-at = 1.5", "smapp.policies.streaming.check-at", "strictly between 0 and 1")]
    [InlineData("smapp.policies.streaming.block-size = 0", "smapp.policies.streaming.block-size", "between 1 and")]
    [InlineData("smapp.policies.ndiffports.subflows = 2.5", "smapp.policies.ndiffports.subflows", "a whole number")]
    [InlineData("smapp.policies.ndiffports.subflows = [2]", "smapp.policies.ndiffports.subflows", "a whole number")]
    [InlineData("smapp.takeover = maybe", "smapp.takeover", "on or off")]
    [InlineData("smapp.gateway.receive-buffer = 1k", "smapp.gateway.receive-buffer", "between 64KiB and 2GiB")]
    [InlineData("smapp.decision-log = trace", "smapp.decision-log", "debug or info")]
    [InlineData("smapp.policy = fulmesh", "smapp.policy", "no policy named 'fulmesh'")]
    public void Values_of_the_wrong_type_or_out_of_range_are_rejected_naming_the_key(string hocon, string key, string reason)
    {
        var e = SettingsFail($"smapp {{}}\n{hocon}");
        Assert.Equal(key, e.Key);
        Assert.Contains(reason, e.Reason);
    }

    [Theory]
    [InlineData("smapp.rules = [ { name = web, remote-port = 443, policy = backup }, { name = web, remote-port = 80, policy = ndiffports } ]", "smapp.rules[1].name", "already the name of smapp.rules[0]")]
    [InlineData("smapp.rules = [ { name = default, side = server, policy = passive } ]", "smapp.rules[0].name", "the name of the default choice")]
    [InlineData("smapp.rules = [ { side = server } ]", "smapp.rules[0].policy", "missing")]
    [InlineData("smapp.rules = [ { side = both, policy = passive } ]", "smapp.rules[0].side", "is not a side")]
    [InlineData("smapp.rules = [ { remote-prefix = \"203.0.113.0/33\", policy = passive } ]", "smapp.rules[0].remote-prefix", "is not an address prefix")]
    [InlineData("smapp.rules = { side = server, policy = passive }", "smapp.rules", "must be a list")]
    public void Rules_are_checked_key_by_key(string hocon, string key, string reason)
    {
        var e = SettingsFail($"smapp {{}}\n{hocon}");
        Assert.Equal(key, e.Key);
        Assert.Contains(reason, e.Reason);
    }

    [Fact]
    public void Every_shipped_file_still_loads_and_its_values_are_in_range()
    {
        var root = Path.Combine(Support.Repo.Root, "HOCON");
        foreach (var f in Directory.GetFiles(root, "*.conf", SearchOption.AllDirectories))
        {
            Assert.Null(HoconSyntax.Check(System.IO.File.ReadAllText(f)));
            ConfigLoader.Load(f, null, []);
        }
    }

    [Fact]
    public void Interfaces_the_namespace_lacks_are_warnings_naming_the_key_and_the_nearest_present_one()
    {
        var s = SmappSettings.FromConfig(ConfigurationFactory.ParseString("""
            smapp {
              interfaces = [wifi, nosuchif0]
              policy = backup
              policies.backup.backup-interfaces = [cel]
              policies.streaming.interfaces = [unused0]
            }
            """));
        var warnings = ConfigLoader.MissingInterfaces(s, ["lo", "wifi", "cell"]).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.Contains(warnings, w => w.StartsWith("smapp.interfaces: no interface 'nosuchif0'") && w.Contains("it has cell, lo, wifi"));
        Assert.Contains(warnings, w => w.StartsWith("smapp.policies.backup.backup-interfaces: no interface 'cel'") && w.Contains("did you mean 'cell'?"));

        // streaming is not in use (no rule picks it): its interfaces are not checked.
        Assert.DoesNotContain(warnings, w => w.Contains("unused0"));
        Assert.Empty(ConfigLoader.MissingInterfaces(s, ["lo", "wifi", "cell", "nosuchif0", "cel"]));
    }
}
