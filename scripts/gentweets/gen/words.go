package gen

// The generator's vocabulary: sentence templates per intended sentiment, with
// {slot} fillers. They carry real sentiment wording so a model can learn it.
var templates = map[string][]string{
	"positive": {
		"I {love} {thing}", "{thing} was {good} today", "so {happy} right now", "what a {good} day",
		"can't wait for {event}", "thank you so much for {thing}", "{good} news about {thing}",
		"just had the {best} {meal}", "finally {done}, feeling {happy}", "loving {thing} so much",
		"{event} was {good}", "best {event} ever", "really {happy} about {thing}", "yay {event} tomorrow",
	},
	"negative": {
		"I {hate} {thing}", "{thing} was {bad} today", "so {sad} right now", "what a {bad} day",
		"can't believe {event} got cancelled", "missing {thing} so much", "{bad} news about {thing}",
		"just had the {worst} {meal}", "still {stuck}, feeling {sad}", "ugh {thing} again",
		"{event} was {bad}", "worst {event} ever", "really {sad} about {thing}", "my {body} hurts so bad",
	},
	"neutral": {
		"going to {place} later", "at {place} with {thing}", "just got home from {place}",
		"watching {show} now", "reading about {thing}", "on the bus to {place}", "{event} starts at {hour}",
		"anyone know when {event} is", "heading to {place}", "listening to {thing} on the radio",
		"need to buy {meal} stuff", "looking at {thing} online", "the meeting is at {hour}",
	},
}

var slots = map[string][]string{
	"love":  {"love", "adore", "really like", "am loving"},
	"hate":  {"hate", "can't stand", "really dislike", "am so done with"},
	"good":  {"great", "awesome", "amazing", "wonderful", "fantastic", "lovely"},
	"bad":   {"terrible", "awful", "horrible", "the worst", "so bad", "lame"},
	"best":  {"best", "most amazing", "greatest", "yummiest"},
	"worst": {"worst", "nastiest", "most disgusting", "saddest"},
	"happy": {"happy", "excited", "glad", "thrilled", "proud", "blessed"},
	"sad":   {"sad", "upset", "depressed", "bummed", "tired", "sick", "lonely"},
	"done":  {"done with exams", "home", "on vacation", "finished the project"},
	"stuck": {"stuck at work", "sick in bed", "waiting for the bus", "studying for finals"},
	"thing": {"the new album", "my iphone", "the weather", "this song", "my friends", "the movie",
		"twitter", "the concert", "my job", "the game", "summer", "the show", "my car", "school"},
	"event": {"the concert", "the game", "the party", "the premiere", "graduation", "the trip", "prom", "the finale"},
	"meal":  {"pizza", "coffee", "breakfast", "sushi", "ice cream", "lunch", "dinner"},
	"place": {"the mall", "work", "school", "the gym", "the beach", "the library", "starbucks", "the airport"},
	"show":  {"the hills", "american idol", "lost", "the office", "the news", "house"},
	"hour":  {"9am", "noon", "3pm", "7pm", "8:30", "midnight"},
	"body":  {"head", "back", "throat", "tooth", "stomach"},
}

var emoticons = map[string][]string{
	"positive": {":)", ":D", "<3", ";)", "xD", "😀", "🎉"},
	"negative": {":(", ":'(", "D:", ":/", "😢", "💔"},
	"neutral":  {"", "...", "-", "~"},
}

var entities = []string{"&quot;really&quot;", "&amp; more", "&lt;3", "&gt;_&lt;", "a &amp; b"}

var foreign = map[string][]string{
	"positive": {"te amo mucho", "que dia tan bonito", "estou muito feliz hoje", "ich bin so glücklich", "今日はとても楽しい", "senang sekali hari ini"},
	"negative": {"que triste estoy", "odio los lunes", "estou muito triste", "ich hasse das", "とても悲しい", "sedih sekali"},
	"neutral":  {"voy al trabajo", "estou em casa", "ich gehe nach hause", "今から学校", "lagi di kantor"},
}

var nameParts = []string{
	"jess", "mike", "sarah", "chris", "katie", "alex", "emma", "josh", "lauren", "matt", "amy", "dan",
	"nicole", "ryan", "becky", "tom", "jen", "nick", "kelly", "sam", "music", "lover", "girl", "boy",
	"fan", "xo", "the", "real", "its", "daily", "rock", "star", "pink", "blue", "sunny", "crazy",
}
