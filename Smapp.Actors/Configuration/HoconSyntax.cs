namespace Smapp.Actors.Configuration;

/// <summary>
/// Checks that the brackets of a HOCON text balance before Akka's parser reads it. That parser is lenient: it accepts
/// an unclosed <c>{</c> and extra <c>}}}</c> without a word, and an unclosed <c>[</c> makes it loop forever. This scanner
/// knows HOCON's lexical parts (quoted and triple-quoted strings, <c>#</c> and <c>//</c> comments, <c>${...}</c>
/// substitutions) and reports the first bracket that does not balance, with its line.
/// </summary>
public static class HoconSyntax
{
    /// <summary>Null when the brackets balance, else "line N: what is wrong".</summary>
    public static string? Check(string text)
    {
        var open = new Stack<(char Bracket, int Line)>();
        var line = 1;
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            switch (c)
            {
                case '\n':
                    line++;
                    i++;
                    break;
                case '#':
                    i = SkipToEndOfLine(text, i);
                    break;
                case '/' when At(text, i, "//"):
                    i = SkipToEndOfLine(text, i);
                    break;
                case '"' when At(text, i, "\"\"\""):
                {
                    var start = line;
                    var end = text.IndexOf("\"\"\"", i + 3, StringComparison.Ordinal);
                    if (end < 0)
                    {
                        return $"line {start}: a triple-quoted string (\"\"\") is never closed";
                    }

                    // A triple-quoted string ends at the last of a run of quotes.
                    while (end + 3 < text.Length && text[end + 3] == '"')
                    {
                        end++;
                    }

                    line += Count(text, i, end, '\n');
                    i = end + 3;
                    break;
                }

                case '"':
                {
                    var start = line;
                    i++;
                    while (i < text.Length && text[i] != '"')
                    {
                        if (text[i] == '\n')
                        {
                            return $"line {start}: a quoted string is never closed on its line";
                        }

                        i += text[i] == '\\' ? 2 : 1;
                    }

                    if (i >= text.Length)
                    {
                        return $"line {start}: a quoted string is never closed";
                    }

                    i++;
                    break;
                }

                case '$' when At(text, i, "${"):
                {
                    var end = text.IndexOf('}', i + 2);
                    var nl = text.IndexOf('\n', i + 2);
                    if (end < 0 || nl >= 0 && nl < end)
                    {
                        return $"line {line}: a substitution ${{...}} is never closed on its line";
                    }

                    i = end + 1;
                    break;
                }

                case '{' or '[':
                    open.Push((c, line));
                    i++;
                    break;
                case '}' or ']':
                {
                    if (open.Count == 0)
                    {
                        return $"line {line}: '{c}' closes nothing (an extra closing {(c == '}' ? "brace" : "bracket")})";
                    }

                    var (bracket, opened) = open.Pop();
                    var expected = bracket == '{' ? '}' : ']';
                    if (c != expected)
                    {
                        return $"line {line}: '{c}' where the '{bracket}' opened on line {opened} needs a '{expected}'";
                    }

                    i++;
                    break;
                }

                default:
                    i++;
                    break;
            }
        }

        if (open.Count > 0)
        {
            var (bracket, opened) = open.Pop();
            var last = text.EndsWith('\n') ? line - 1 : line;
            return $"line {opened}: '{bracket}' is never closed (the text ends at line {last} with no '{(bracket == '{' ? '}' : ']')}' for it)";
        }

        return null;
    }

    private static bool At(string text, int i, string what) => string.CompareOrdinal(text, i, what, 0, what.Length) == 0;

    private static int SkipToEndOfLine(string text, int i)
    {
        var nl = text.IndexOf('\n', i);
        return nl < 0 ? text.Length : nl;
    }

    private static int Count(string text, int from, int to, char c)
    {
        var n = 0;
        for (var i = from; i < to; i++)
        {
            if (text[i] == c)
            {
                n++;
            }
        }

        return n;
    }
}
