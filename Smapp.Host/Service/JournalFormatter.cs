using Serilog.Events;
using Serilog.Formatting;
using Serilog.Formatting.Display;

namespace Smapp.Host.Service;

/// <summary>
/// Log lines for journald (used when JOURNAL_STREAM says stderr goes to the journal): no timestamp (the journal has
/// its own) and no colours, and each line starts with its syslog priority, &lt;N&gt;, which journald turns into the
/// entry's PRIORITY (sd-daemon(3)), so `journalctl -p warning` works.
/// </summary>
public sealed class JournalFormatter : ITextFormatter
{
    private readonly MessageTemplateTextFormatter _inner = new("{Message:lj}{NewLine}{Exception}");

    public static int Priority(LogEventLevel level) => level switch
    {
        LogEventLevel.Fatal => 2,       // crit
        LogEventLevel.Error => 3,       // err
        LogEventLevel.Warning => 4,     // warning
        LogEventLevel.Information => 6, // info
        _ => 7,                         // debug
    };

    public void Format(LogEvent logEvent, TextWriter output)
    {
        output.Write('<');
        output.Write(Priority(logEvent.Level));
        output.Write('>');
        _inner.Format(logEvent, output);
    }
}
